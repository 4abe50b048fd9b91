import { createHash } from 'node:crypto';
import type pg from 'pg';
import { NotFoundError } from '@aoetl/contracts';
import { decodeCursor, pageSize, toPage, type Page, type PageRequest } from './pages.js';
import type { Pipelines } from './pipelines.js';
import { iso, type Row } from './rows.js';

export interface ArtifactRecord {
  version: number;
  sha256: string;
  language: string;
  bytes: number;
  createdAt: string;
}

function toArtifact(r: Row): ArtifactRecord {
  return {
    version: Number(r.version),
    sha256: r.sha256 as string,
    language: r.language as string,
    bytes: Number(r.bytes),
    createdAt: iso(r.created_at)!,
  };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/**
 * Stores code as the pipeline's next artifact version inside the caller's transaction, unless the same bytes are
 * already stored; never overwrites. The caller holds the pipeline's row lock, so versions are not raced for.
 */
export async function storeArtifact(
  c: pg.PoolClient,
  pipelineId: string,
  code: string,
  language: 'python' | 'sql' = 'python',
): Promise<{ sha256: string; version: number }> {
  const sha256 = sha256Hex(code);
  await c.query(
    `INSERT INTO artifacts (pipeline_id, version, sha256, language, code)
     SELECT $1, COALESCE(MAX(version), 0) + 1, $2, $4, $3 FROM artifacts WHERE pipeline_id = $1
     ON CONFLICT (pipeline_id, sha256) DO NOTHING`,
    [pipelineId, sha256, code, language],
  );
  const { rows } = await c.query('SELECT version FROM artifacts WHERE pipeline_id = $1 AND sha256 = $2', [pipelineId, sha256]);
  return { sha256, version: Number((rows[0] as { version: number }).version) };
}

/**
 * The code of a pipeline's versions, one immutable artifact per distinct text, keyed by its SHA-256. Artifacts are
 * written with the pipeline version that introduces them (`Pipelines`), never overwritten.
 */
export class Artifacts {
  constructor(
    private readonly pool: pg.Pool,
    private readonly pipelines: Pick<Pipelines, 'get'>,
  ) {}

  /** A live pipeline's artifacts, newest version first. */
  async list(tenant: string, pipelineId: string, page: PageRequest): Promise<Page<ArtifactRecord>> {
    await this.pipelines.get(tenant, pipelineId);
    const limit = pageSize(page.limit);
    const after = decodeCursor(page.cursor, ['int']);
    const { rows } = await this.pool.query(
      `SELECT version, sha256, language, octet_length(code) AS bytes, created_at FROM artifacts
       WHERE pipeline_id = $1 AND ($2::int IS NULL OR version < $2) ORDER BY version DESC LIMIT $3`,
      [pipelineId, after?.[0] ?? null, limit + 1],
    );
    return toPage(rows as Row[], limit, toArtifact, (r) => [Number(r.version)]);
  }

  /** One version of a live pipeline's artifact, with its code. */
  async get(tenant: string, pipelineId: string, version: number): Promise<ArtifactRecord & { code: string }> {
    const { rows } = await this.pool.query(
      `SELECT a.version, a.sha256, a.language, octet_length(a.code) AS bytes, a.created_at, a.code
       FROM artifacts a JOIN pipelines p ON p.id = a.pipeline_id
       WHERE p.tenant = $1 AND p.id = $2 AND p.deleted_at IS NULL AND a.version = $3`,
      [tenant, pipelineId, version],
    );
    if (!rows[0]) throw new NotFoundError('artifact not found');
    const r = rows[0] as Row;
    return { ...toArtifact(r), code: r.code as string };
  }
}
