/** Did-you-mean suggestions: configuration keys and values, auth methods, command names. */

/** Levenshtein distance. */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({length: b.length + 1}, (_, index) => index)
  for (let i = 1; i <= a.length; i++) {
    const current = [i]
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }

    previous = current
  }

  return previous[b.length]
}

/** The largest distance at which `word` still reads as a typo of something, not another word. */
export function typoDistance(word: string): number {
  return Math.max(2, Math.floor(word.length / 3))
}

export function didYouMean(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined
  let bestDistance = typoDistance(word) + 1
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase())
    if (distance < bestDistance) {
      best = candidate
      bestDistance = distance
    }
  }

  return best
}
