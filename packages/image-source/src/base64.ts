import { ImageSourceError } from './errors';

const STANDARD_ALPHABET = /^[A-Za-z0-9+/]*$/;
const URL_SAFE_ALPHABET = /^[A-Za-z0-9_-]*$/;
const WHITESPACE = /[\t\n\r ]/g;
const DATA_URL_HEADER = /^data:([^,]{0,256}),/i;

function badBase64(message: string): ImageSourceError {
  return new ImageSourceError('SOURCE_BAD_BASE64', message);
}

/** Characters needed to encode `bytes` bytes, padded. */
function encodedLength(bytes: number): number {
  return Math.ceil(bytes / 3) * 4;
}

/**
 * Decodes an image sent inline: plain base64 (standard or URL-safe alphabet, padded or not, line
 * breaks allowed) or a `data:image/...;base64,` URL. The decoded size is computed from the length
 * and checked against the cap before anything is decoded; malformed input is refused rather than
 * decoded leniently (Buffer.from silently skips bad characters).
 */
export function decodeBase64Image(input: string, maxBytes: number): Buffer {
  let payload = input;
  if (/^data:/i.test(input)) {
    const header = DATA_URL_HEADER.exec(input);
    if (header === null) throw badBase64('Malformed data URL: no comma after the header');
    const [mediaType = '', ...parameters] = (header[1] ?? '')
      .split(';')
      .map((part) => part.trim().toLowerCase());
    if (!mediaType.startsWith('image/')) {
      throw new ImageSourceError(
        'SOURCE_BAD_CONTENT_TYPE',
        `Data URL is ${mediaType || 'text/plain'}, not image/*`,
        {
          details: { contentType: mediaType },
        },
      );
    }
    if (parameters[parameters.length - 1] !== 'base64') throw badBase64('Data URL is not base64-encoded');
    payload = input.slice(header[0].length);
  }
  // Generous allowance for line breaks; beyond it there is no point even scanning the string.
  if (payload.length > encodedLength(maxBytes) * 1.1 + 1024) throw tooLarge(maxBytes);
  const compact = payload.replace(WHITESPACE, '');
  const unpadded = compact.replace(/={1,2}$/, '');
  if (unpadded.length === 0) throw badBase64('Empty base64 image');
  if (unpadded.length !== compact.length && compact.length % 4 !== 0) throw badBase64('Bad base64 padding');
  if (unpadded.length % 4 === 1) throw badBase64('Truncated base64 (length is 1 mod 4)');
  const urlSafe = !STANDARD_ALPHABET.test(unpadded);
  if (urlSafe && !URL_SAFE_ALPHABET.test(unpadded)) throw badBase64('Invalid characters in base64 image');
  const decodedLength = Math.floor((unpadded.length * 3) / 4);
  if (decodedLength > maxBytes) throw tooLarge(maxBytes, decodedLength);
  return Buffer.from(unpadded, urlSafe ? 'base64url' : 'base64');
}

function tooLarge(maxBytes: number, size?: number): ImageSourceError {
  const what = size === undefined ? 'more than' : `${size} bytes, more than`;
  return new ImageSourceError('SOURCE_TOO_LARGE', `Inline image is ${what} ${maxBytes} bytes`, {
    details: { maxBytes, ...(size === undefined ? {} : { size }) },
  });
}
