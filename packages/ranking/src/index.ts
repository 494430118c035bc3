export * from './lda';
export * from './colour';
export * from './metrics';
