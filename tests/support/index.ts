export * from './paths';
export * from './poll';
export * from './ports';
export * from './processes';
export * from './redis';
export * from './indexer';
export * from './snapshot';
export * from './catalogue';
