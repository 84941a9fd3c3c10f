// This library is built by issue #5; until then it exports nothing.
export {};
