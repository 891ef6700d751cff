/** Text areas of lists (suffixes, CIDRs, domains): one per line or comma-separated. */
export function splitLines(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((s) => s.trim())
    .filter(Boolean);
}
