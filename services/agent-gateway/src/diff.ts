import { formatPatch, structuredPatch, type StructuredPatch } from 'diff';

/** Past this many changed lines (or this long) a diff is given up and shown as a whole-file replacement. */
const MAX_EDIT_LENGTH = 5000;
const DIFF_TIMEOUT_MS = 250;

/** Unified diff of two texts with its added and deleted line counts; bounded in time for hostile inputs. */
export function unifiedDiff(fromName: string, toName: string, before: string, after: string) {
  const patch: StructuredPatch =
    structuredPatch(fromName, toName, before, after, undefined, undefined, { context: 3, maxEditLength: MAX_EDIT_LENGTH, timeout: DIFF_TIMEOUT_MS }) ??
    wholeReplacement(fromName, toName, before, after);
  let additions = 0;
  let deletions = 0;
  for (const hunk of patch.hunks) {
    for (const line of hunk.lines) {
      if (line.startsWith('+')) additions += 1;
      else if (line.startsWith('-')) deletions += 1;
    }
  }
  return { unified: patch.hunks.length === 0 ? '' : formatPatch(patch), additions, deletions };
}

function wholeReplacement(fromName: string, toName: string, before: string, after: string): StructuredPatch {
  const lines = (text: string) => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));
  const oldLines = lines(before);
  const newLines = lines(after);
  return {
    oldFileName: fromName,
    newFileName: toName,
    oldHeader: undefined,
    newHeader: undefined,
    hunks: [
      {
        oldStart: oldLines.length ? 1 : 0,
        oldLines: oldLines.length,
        newStart: newLines.length ? 1 : 0,
        newLines: newLines.length,
        lines: [...oldLines.map((l) => `-${l}`), ...newLines.map((l) => `+${l}`)],
      },
    ],
  };
}

export type UnifiedDiff = ReturnType<typeof unifiedDiff>;
