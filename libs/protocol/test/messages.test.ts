import { describe, expect, it } from 'vitest';
import { messageSchema } from '../src/index.js';

describe('messageSchema', () => {
  it('accepts a presence message', () => {
    expect(
      messageSchema.parse({ kind: 'presence', robotId: 'r-1', online: true, reason: 'connected', at: 1 })
        .kind,
    ).toBe('presence');
  });
});
