import { PortcullisClient, PortcullisError } from './portcullis-client/index.js';

// The API's origin; ?api= overrides it so the same page can be pointed anywhere.
const api = new URLSearchParams(location.search).get('api') ?? 'http://localhost:8000';
const $ = (id) => document.getElementById(id);
$('page-origin').textContent = location.origin;
$('api-origin').textContent = api;

const client = new PortcullisClient({
  baseUrl: api,
  // The server explains here (outside production) why this browser will lose the session cookie.
  onWarning: (warning) => {
    $('warning').textContent = `Portcullis-Warning: ${warning}`;
    console.warn(warning);
  },
});

async function refresh() {
  const user = await client.currentUser();
  $('status').textContent = user ? `Logged in as ${user.username}` : 'Logged out';
  document.body.dataset.state = user ? 'in' : 'out';
}

$('login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  $('error').textContent = '';
  try {
    const user = await client.login({ username: form.get('username'), password: form.get('password'), remember: form.get('remember') === 'on' });
    $('status').textContent = `Login answered: ${user.username}`;
    document.body.dataset.login = 'ok';
  } catch (err) {
    $('error').textContent = err instanceof PortcullisError ? `${err.code}: ${err.message}` : String(err);
    document.body.dataset.login = 'failed';
  }
});

$('logout').addEventListener('click', async () => {
  await client.logout();
  await refresh();
});

refresh().catch((err) => {
  $('error').textContent = String(err);
  document.body.dataset.state = 'error';
});
