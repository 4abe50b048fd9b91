export { aoetlAuth, aoetlAuth as default, type AuthPluginOptions } from './plugin.js';
export { requireRole } from './roles.js';
export {
  PERMISSIONS,
  ROLE_PERMISSIONS,
  hasPermission,
  permissionsOf,
  requirePermission,
  type Permission,
} from './permissions.js';
export { principalFromClaims, InvalidClaimsError, type Principal } from './principal.js';
export {
  JwksKeyResolver,
  KeyResolutionError,
  SUPPORTED_ALGORITHMS,
  type KeyLookupContext,
  type KeyResolverOptions,
  type SupportedAlgorithm,
} from './keys.js';
