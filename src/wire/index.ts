export * from './frame.js';
export * from './frame-codec.js';
export * from './limits.js';
export * from './buffer-pool.js';
