/** Poll `cond` every 5 ms; true once it holds, false after `ms`. */
export async function waitFor (cond: () => boolean, ms = 10_000): Promise<boolean> {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > ms) return false
    await new Promise(resolve => setTimeout(resolve, 5))
  }
  return true
}
