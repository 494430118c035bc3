export {
  ImageSource,
  imageRefKind,
  type ImageRef,
  type ImageRefKind,
  type ImageSourceOptions,
} from './image-source';
export { ImageSourceError, isImageSourceError, type ImageSourceErrorCode } from './errors';
export { AddressPolicy, blockedRange, type AddressPolicyOptions } from './address-policy';
export { detectImageFormat, type ImageFormat } from './magic';
export type { HostResolver, ResolvedAddress } from './http-fetch';
