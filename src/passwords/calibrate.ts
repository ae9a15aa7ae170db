import { performance } from 'node:perf_hooks';
import { Argon2PasswordHasher } from './hashers/argon2.js';

export interface Calibration {
  memoryCost: number;
  timeCost: number;
  parallelism: number;
  ms: number;
}

async function timeOnce(memoryCost: number, timeCost: number): Promise<number> {
  const hasher = new Argon2PasswordHasher({ memoryCost, timeCost, parallelism: 1 });
  await hasher.encode('calibration password');
  const runs = 3;
  const start = performance.now();
  for (let i = 0; i < runs; i++) await hasher.encode('calibration password');
  return (performance.now() - start) / runs;
}

/**
 * Keeps OWASP's memory floor (19 MiB) and raises the time cost, then the memory, until one hash takes
 * about `targetMs` on this machine. Parallelism stays 1: concurrent logins already use every core.
 */
export async function calibrateArgon2(targetMs: number): Promise<Calibration> {
  let memoryCost = 19456;
  let timeCost = 2;
  let ms = await timeOnce(memoryCost, timeCost);
  while (ms < targetMs && timeCost < 10) {
    timeCost++;
    ms = await timeOnce(memoryCost, timeCost);
  }
  while (ms < targetMs && memoryCost < 262144) {
    memoryCost *= 2;
    ms = await timeOnce(memoryCost, timeCost);
  }
  return { memoryCost, timeCost, parallelism: 1, ms };
}
