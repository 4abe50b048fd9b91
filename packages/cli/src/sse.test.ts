import { SseParser } from './sse';

describe('SseParser', () => {
  it('parses events split across chunks, skipping comments', () => {
    const p = new SseParser();
    expect(p.feed(': keep-alive\n\nevent: status\nid: 7\nda')).toEqual([]);
    expect(p.feed('ta: {"status":"running"}\n\nevent: end\r\ndata: {"status":"succeeded"}\r\n\r\n')).toEqual([
      { event: 'status', id: '7', data: '{"status":"running"}' },
      { event: 'end', id: '7', data: '{"status":"succeeded"}' },
    ]);
  });
  it('joins multi-line data and defaults the event name', () => {
    expect(new SseParser().feed('data: a\ndata: b\n\n')).toEqual([{ event: 'message', data: 'a\nb' }]);
  });
});
