/** RequestDeadline (plugins/deadline.ts): the signal is made on demand and tells the same story either way. */
import { RequestDeadline } from '../src/plugins/deadline';

test('a signal asked for before the deadline passes is aborted with its reason', () => {
  const deadline = new RequestDeadline();
  const signal = deadline.signal;
  expect(signal.aborted).toBe(false);
  expect(deadline.signal).toBe(signal);
  const reason = new Error('late');
  deadline.abort(reason);
  expect(signal.aborted).toBe(true);
  expect(signal.reason).toBe(reason);
});

test('a signal first asked for after the deadline passed comes already aborted, with the first reason', () => {
  const deadline = new RequestDeadline();
  const first = new Error('request timeout');
  deadline.abort(first);
  deadline.abort(new Error('client closed the connection'));
  expect(deadline.signal.aborted).toBe(true);
  expect(deadline.signal.reason).toBe(first);
});
