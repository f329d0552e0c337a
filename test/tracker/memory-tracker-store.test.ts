import { runTrackerStoreContract } from "../../src/testing.ts";
import { MemoryTrackerStore } from "../../src/tracker.ts";

runTrackerStoreContract(async () => ({ store: new MemoryTrackerStore() }), { name: "MemoryTrackerStore" });
