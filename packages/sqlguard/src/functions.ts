/**
 * The functions a sql transform may call: built-in (pg_catalog) functions that only compute over their arguments.
 * Everything else is refused; the denied families below get their own category so the refusal says why.
 */

/** Why a function is refused, when it belongs to a known dangerous family. */
export type DeniedCategory =
  | 'file'
  | 'large_object'
  | 'advisory_lock'
  | 'sleep'
  | 'foreign'
  | 'config'
  | 'signal'
  | 'dynamic_sql'
  | 'sequence'
  | 'admin';

const DENIED: Record<Exclude<DeniedCategory, 'admin'>, readonly string[]> = {
  file: ['pg_read_file', 'pg_read_binary_file', 'pg_ls_dir', 'pg_stat_file', 'pg_ls_logdir', 'pg_ls_waldir', 'pg_ls_tmpdir',
    'pg_ls_archive_statusdir', 'pg_ls_logicalsnapdir', 'pg_ls_logicalmapdir', 'pg_ls_replslotdir', 'pg_file_write',
    'pg_file_rename', 'pg_file_unlink', 'pg_file_sync', 'pg_logdir_ls', 'pg_current_logfile'],
  large_object: ['lo_import', 'lo_export', 'lo_open', 'lo_close', 'lo_create', 'lo_creat', 'lo_unlink', 'lo_get', 'lo_put',
    'lo_from_bytea', 'loread', 'lowrite', 'lo_lseek', 'lo_lseek64', 'lo_tell', 'lo_tell64', 'lo_truncate', 'lo_truncate64'],
  advisory_lock: ['pg_advisory_lock', 'pg_advisory_lock_shared', 'pg_advisory_unlock', 'pg_advisory_unlock_shared',
    'pg_advisory_unlock_all', 'pg_advisory_xact_lock', 'pg_advisory_xact_lock_shared', 'pg_try_advisory_lock',
    'pg_try_advisory_lock_shared', 'pg_try_advisory_xact_lock', 'pg_try_advisory_xact_lock_shared'],
  sleep: ['pg_sleep', 'pg_sleep_for', 'pg_sleep_until'],
  foreign: ['dblink', 'dblink_exec', 'dblink_connect', 'dblink_connect_u', 'dblink_open', 'dblink_fetch', 'dblink_send_query',
    'dblink_get_result', 'dblink_disconnect', 'postgres_fdw_get_connections', 'postgres_fdw_disconnect',
    'postgres_fdw_disconnect_all'],
  config: ['set_config', 'current_setting', 'pg_reload_conf', 'pg_settings_get_flags'],
  signal: ['pg_cancel_backend', 'pg_terminate_backend', 'pg_signal_backend', 'pg_rotate_logfile', 'pg_promote',
    'pg_log_backend_memory_contexts'],
  dynamic_sql: ['query_to_xml', 'query_to_xmlschema', 'query_to_xml_and_xmlschema', 'cursor_to_xml', 'cursor_to_xmlschema',
    'table_to_xml', 'table_to_xmlschema', 'table_to_xml_and_xmlschema', 'schema_to_xml', 'schema_to_xmlschema',
    'schema_to_xml_and_xmlschema', 'database_to_xml', 'database_to_xmlschema', 'database_to_xml_and_xmlschema'],
  sequence: ['nextval', 'setval', 'currval', 'lastval'],
};

const DENIED_BY_NAME = new Map<string, DeniedCategory>(
  Object.entries(DENIED).flatMap(([category, names]) => names.map((n) => [n, category as DeniedCategory] as const)),
);

/** The category of a denied function, or null. Any `pg_*` function (and any dblink*) is denied. */
export function deniedCategory(name: string): DeniedCategory | null {
  const known = DENIED_BY_NAME.get(name);
  if (known) return known;
  if (name.startsWith('dblink')) return 'foreign';
  if (name.startsWith('lo_')) return 'large_object';
  if (name.startsWith('pg_')) return 'admin';
  return null;
}

/** Built-in functions that only compute over their arguments (and aggregates and window functions). */
export const ALLOWED_FUNCTIONS: ReadonlySet<string> = new Set([
  // strings
  'lower', 'upper', 'initcap', 'btrim', 'ltrim', 'rtrim', 'length', 'char_length', 'character_length', 'octet_length',
  'bit_length', 'substr', 'substring', 'left', 'right', 'lpad', 'rpad', 'replace', 'split_part', 'strpos', 'position',
  'concat', 'concat_ws', 'format', 'regexp_replace', 'regexp_match', 'regexp_matches', 'regexp_split_to_array',
  'regexp_split_to_table', 'regexp_count', 'regexp_instr', 'regexp_like', 'regexp_substr', 'translate', 'reverse',
  'repeat', 'md5', 'sha224', 'sha256', 'sha384', 'sha512', 'encode', 'decode', 'ascii', 'chr', 'starts_with', 'to_hex',
  'quote_ident', 'quote_literal', 'quote_nullable', 'string_agg', 'array_to_string', 'string_to_array', 'string_to_table',
  'overlay', 'similar_to_escape', 'normalize', 'is_normalized', 'casefold', 'unistr', 'to_ascii',
  // numbers
  'abs', 'ceil', 'ceiling', 'floor', 'round', 'trunc', 'sign', 'sqrt', 'cbrt', 'power', 'pow', 'exp', 'ln', 'log', 'log10',
  'mod', 'div', 'pi', 'degrees', 'radians', 'sin', 'cos', 'tan', 'asin', 'acos', 'atan', 'atan2', 'width_bucket', 'gcd',
  'lcm', 'factorial', 'scale', 'min_scale', 'trim_scale', 'random', 'numeric', 'int4', 'int8', 'float8', 'text',
  // dates and times
  'now', 'date_trunc', 'date_part', 'extract', 'age', 'to_char', 'to_date', 'to_timestamp', 'to_number', 'make_date',
  'make_time', 'make_timestamp', 'make_timestamptz', 'make_interval', 'justify_days', 'justify_hours', 'justify_interval',
  'date_bin', 'clock_timestamp', 'statement_timestamp', 'transaction_timestamp', 'timezone', 'isfinite', 'overlaps',
  'date_add', 'date_subtract',
  // aggregates
  'count', 'sum', 'avg', 'min', 'max', 'bool_and', 'bool_or', 'every', 'array_agg', 'json_agg', 'jsonb_agg',
  'json_object_agg', 'jsonb_object_agg', 'stddev', 'stddev_pop', 'stddev_samp', 'variance', 'var_pop', 'var_samp', 'corr',
  'covar_pop', 'covar_samp', 'percentile_cont', 'percentile_disc', 'mode', 'bit_and', 'bit_or', 'bit_xor', 'any_value',
  'regr_slope', 'regr_intercept', 'regr_count', 'regr_r2', 'regr_avgx', 'regr_avgy',
  // window functions
  'row_number', 'rank', 'dense_rank', 'percent_rank', 'cume_dist', 'ntile', 'lag', 'lead', 'first_value', 'last_value',
  'nth_value',
  // json
  'to_json', 'to_jsonb', 'row_to_json', 'array_to_json', 'json_build_object', 'jsonb_build_object', 'json_build_array',
  'jsonb_build_array', 'json_object', 'jsonb_object', 'json_extract_path', 'json_extract_path_text', 'jsonb_extract_path',
  'jsonb_extract_path_text', 'jsonb_set', 'jsonb_set_lax', 'jsonb_insert', 'jsonb_strip_nulls', 'json_strip_nulls',
  'json_typeof', 'jsonb_typeof', 'json_array_elements', 'jsonb_array_elements', 'json_array_elements_text',
  'jsonb_array_elements_text', 'json_each', 'jsonb_each', 'json_each_text', 'jsonb_each_text', 'json_object_keys',
  'jsonb_object_keys', 'json_array_length', 'jsonb_array_length', 'jsonb_pretty', 'jsonb_path_query',
  'jsonb_path_query_array', 'jsonb_path_query_first', 'jsonb_path_exists', 'jsonb_path_match', 'json_populate_record',
  'jsonb_populate_record', 'json_to_record', 'jsonb_to_record', 'json_to_recordset', 'jsonb_to_recordset',
  // arrays and sets
  'array_length', 'array_position', 'array_positions', 'array_append', 'array_prepend', 'array_cat', 'array_remove',
  'array_replace', 'array_lower', 'array_upper', 'array_ndims', 'array_dims', 'array_fill', 'cardinality', 'unnest',
  'generate_series', 'generate_subscripts', 'trim_array', 'array_reverse', 'array_sort',
  // misc pure functions
  'num_nulls', 'num_nonnulls', 'gen_random_uuid', 'uuidv4', 'uuidv7', 'uuid_extract_timestamp', 'uuid_extract_version',
  'host', 'masklen', 'network', 'family', 'abbrev', 'broadcast', 'netmask', 'inet_same_family', 'inet_merge',
  'lower_inc', 'upper_inc', 'lower_inf', 'upper_inf', 'isempty', 'range_merge', 'int4range', 'int8range', 'numrange',
  'daterange', 'tsrange', 'tstzrange', 'to_tsvector', 'to_tsquery', 'plainto_tsquery', 'websearch_to_tsquery',
  'ts_rank', 'ts_headline', 'xmlelement', 'xmlforest', 'xmlconcat', 'xmlagg', 'xmlcomment', 'xmlparse', 'xmlserialize',
]);

/** Sampling methods TABLESAMPLE may name (the two built in; extensions such as tsm_system_time are not allowed). */
export const ALLOWED_SAMPLE_METHODS: ReadonlySet<string> = new Set(['bernoulli', 'system']);

/** Types whose input resolves catalog objects (regclass, regproc…) or that are internal (pg_*): never in a cast. */
export function catalogType(name: string): boolean {
  return /^reg[a-z]*$/.test(name) || name.startsWith('pg_');
}
