export { buildApp, type App, type BuildAppOptions } from './app';
export { loadConfig, K_CEILING, API_ENV_KEYS, type ApiConfig } from './config';
export { ApiError, STATUS_BY_CODE, type FieldError } from './errors';
export { InferenceQueue } from './search/inference-queue';
export { SearchService } from './search/search-service';
export { parseFilter } from './search/filter';
export { generateOpenApiDocument, OPENAPI_PATH } from './generate-openapi';
export type * from './ports';
