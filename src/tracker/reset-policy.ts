/**
 * dictrack's reset policy bits. PROGRESS zeroes progress on a manual reset (and, when a tracker
 * omits `progressMode`, means "perStage" with "drop" at stage advances); LIMITER refills limiters.
 */
export const ResetPolicy = Object.freeze({ NONE: 0, PROGRESS: 1, LIMITER: 2, ALL: 3, DEFAULT: 2 } as const);
export type ResetPolicyValue = 0 | 1 | 2 | 3;
