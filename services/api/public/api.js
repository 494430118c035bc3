// The public API as the page calls it: JSON in, JSON or a problem (as an Error with status and code) out.

export async function api(path, init) {
  let response;
  try {
    response = await fetch(path, { ...init, headers: { accept: 'application/json', ...init?.headers } });
  } catch (err) {
    throw Object.assign(new Error(`The server did not answer (${err.message})`), { code: 'NETWORK' });
  }
  const body = await response.json().catch(() => null);
  if (!response.ok) {
    const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
    throw Object.assign(new Error(detail), { status: response.status, code: body && body.code });
  }
  return body;
}
