// A line diff (longest common subsequence), for the timeline's changes.
import { stringify } from "yaml";

export interface DiffLine {
  op: " " | "+" | "-";
  text: string;
}

export function diffLines(a: string[], b: string[]): DiffLine[] {
  const n = a.length;
  const m = b.length;
  // lcs[i][j]: the LCS length of a[i:] and b[j:].
  const lcs: number[][] = Array.from({ length: n + 1 }, () => new Array<number>(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      out.push({ op: " ", text: a[i] });
      i++;
      j++;
    } else if (lcs[i + 1][j] >= lcs[i][j + 1]) {
      out.push({ op: "-", text: a[i++] });
    } else {
      out.push({ op: "+", text: b[j++] });
    }
  }
  while (i < n) out.push({ op: "-", text: a[i++] });
  while (j < m) out.push({ op: "+", text: b[j++] });
  return out;
}

/** An object as stable, readable lines, without the fields every write changes. */
export function objectLines(obj: unknown): string[] {
  if (obj === undefined || obj === null) return [];
  const clean = JSON.parse(JSON.stringify(obj)) as { metadata?: Record<string, unknown> };
  if (clean.metadata) {
    for (const k of ["managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"]) delete clean.metadata[k];
  }
  return stringify(clean, { sortMapEntries: true }).trimEnd().split("\n");
}
