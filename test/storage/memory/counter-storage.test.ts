import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MemoryStorage } from "../../../src/storage/memory/counter-storage.ts";
import { storageContract } from "../../../src/testing/counter-storage-contract.ts";

storageContract("MemoryStorage", () => new MemoryStorage());

describe("MemoryStorage", () => {
  it("is shared by stores used in sequence and says it is not durable", async () => {
    const storage = new MemoryStorage();
    await storage.save("k", Uint8Array.of(1));
    assert.equal(storage.size, 1);
    assert.deepEqual(storage.capabilities, { atomicBatch: true, durable: false, crossProcess: false });
  });
});
