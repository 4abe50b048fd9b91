/** Exit codes of the `aoetl` binary (documented in the package README). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  auth: 3,
  forbidden: 4,
  notFound: 5,
  conflict: 6,
  unreachable: 7,
  server: 8,
  runFailed: 10,
  runCancelled: 11,
  auditBroken: 12,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports as one line on stderr, with an exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.failure,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** RFC 9457 problem details as the gateway sends them. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { field?: string; message: string }[];
}

export function exitCodeForStatus(status: number): ExitCode {
  if (status === 400 || status === 422 || status === 413) return EXIT.usage;
  if (status === 401) return EXIT.auth;
  if (status === 403) return EXIT.forbidden;
  if (status === 404) return EXIT.notFound;
  if (status === 409 || status === 412) return EXIT.conflict;
  return EXIT.server;
}

/** One line from a problem+json body: `<what>: <detail> (field <field>: <message>)`. */
export function problemLine(what: string, status: number, problem: Problem | undefined): string {
  const detail = problem?.detail ?? problem?.title ?? `HTTP ${status}`;
  const first = problem?.errors?.find((e) => e.field) ?? problem?.errors?.[0];
  const field = first?.field ? ` (field ${first.field}: ${first.message})` : first && !detail.includes(first.message) ? ` (${first.message})` : '';
  return `${what}: ${detail}${field}`;
}
