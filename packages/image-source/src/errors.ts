import { LookalikeError } from '@lookalike/config';

export type ImageSourceErrorCode =
  | 'SOURCE_BAD_REF'
  | 'SOURCE_BAD_OPTIONS'
  | 'SOURCE_BAD_URL'
  | 'SOURCE_BLOCKED_ADDRESS'
  | 'SOURCE_NETWORK_ERROR'
  | 'SOURCE_TIMEOUT'
  | 'SOURCE_HTTP_ERROR'
  | 'SOURCE_TOO_MANY_REDIRECTS'
  | 'SOURCE_BAD_CONTENT_TYPE'
  | 'SOURCE_TOO_LARGE'
  | 'SOURCE_NOT_IMAGE'
  | 'SOURCE_NO_CATALOGUE_ROOT'
  | 'SOURCE_BAD_PATH'
  | 'SOURCE_PATH_OUTSIDE_ROOT'
  | 'SOURCE_NOT_FOUND'
  | 'SOURCE_READ_ERROR'
  | 'SOURCE_BAD_BASE64';

/**
 * Every failure to turn an ImageRef into bytes. `permanent: false` marks the ones worth retrying
 * (timeouts, 5xx, resets, transient DNS and I/O errors); everything else fails the same way again.
 */
export class ImageSourceError extends LookalikeError {
  declare readonly code: ImageSourceErrorCode;

  constructor(
    code: ImageSourceErrorCode,
    message: string,
    options: { permanent?: boolean; cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(code, message, options);
  }
}

export function isImageSourceError(err: unknown): err is ImageSourceError {
  return err instanceof ImageSourceError;
}
