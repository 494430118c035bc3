export {
  LinearProjection,
  ProjectionFormatError,
  type LinearProjectionParts,
  type ProjectionDescriptor,
} from './linear-projection';
