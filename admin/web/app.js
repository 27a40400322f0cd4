// evax-node status page: reads the node's admin API (/readyz and /api/v1) and refreshes every
// 5 s. Plain browser JavaScript, no libraries. Every string from the server reaches the DOM
// through textContent or setAttribute, never as HTML.
'use strict';

(() => {
  const TOKEN_KEY = 'evax-node.token';
  const REFRESH_MS = 5000;
  const JOB_LIMIT = 20;
  const TOP_FINDINGS = 6;
  const THUMBNAIL_CACHE = 16;
  const CHECK_NAMES = { database: 'Database', model: 'Model', disk: 'Disk', listener: 'DICOM listener', drift: 'Input drift' };
  const OUTPUT_KINDS = { sr: 'Structured Report', sc: 'Secondary Capture', seg: 'Segmentation' };

  const state = {
    token: null,
    timer: null,
    generation: 0, // bumped when the token goes away: answers of older requests are dropped
    detailRequest: 0, // only the latest job-detail request may render
    selectedId: null, // the job the user chose; null shows the newest
    shownId: null,
    filter: '',
    jobIds: [],
    rendered: {}, // section id -> the JSON it was last rendered from (unchanged data is not redrawn)
    thumbnails: new Map(), // preview path -> {promise, img}; least recently used first
  };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  const $ = (id) => document.getElementById(id);

  // A DOM element; attributes through setAttribute, children as nodes or text.
  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      node.setAttribute(name, value === true ? '' : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // ---- token -------------------------------------------------------------------------------

  function storage() {
    try {
      return window.sessionStorage;
    } catch {
      return null; // storage disabled: the token lives in this page only
    }
  }

  function initialToken() {
    const hash = location.hash.replace(/^#/, '');
    if (hash) {
      const params = new URLSearchParams(hash);
      if (params.has('token')) {
        const token = params.get('token');
        params.delete('token');
        const rest = params.toString();
        // The token leaves the address bar (and the history entry) at once.
        history.replaceState(null, '', location.pathname + location.search + (rest ? '#' + rest : ''));
        if (token) {
          storage()?.setItem(TOKEN_KEY, token);
          return token;
        }
      }
    }
    return storage()?.getItem(TOKEN_KEY) || null;
  }

  function showTokenForm(message) {
    $('dashboard').hidden = true;
    $('sign-out').hidden = true;
    $('error').hidden = true;
    const error = $('token-error');
    error.textContent = message || '';
    error.hidden = !message;
    $('token-form').hidden = false;
    $('last-refresh').textContent = 'Not signed in';
    $('token-input').focus();
  }

  // Forgets the token and every piece of data shown with it.
  function signOut(message) {
    state.generation += 1;
    clearTimeout(state.timer);
    state.token = null;
    storage()?.removeItem(TOKEN_KEY);
    state.selectedId = null;
    state.shownId = null;
    state.jobIds = [];
    state.rendered = {};
    for (const entry of state.thumbnails.values()) entry.promise.then((url) => URL.revokeObjectURL(url), () => {});
    state.thumbnails.clear();
    for (const id of ['health', 'queue', 'destinations', 'retrievals', 'job-detail']) $(id).querySelector('.card-body').replaceChildren();
    document.querySelector('#jobs tbody').replaceChildren();
    document.querySelector('#jobs .jobs-footer').textContent = '';
    showTokenForm(message);
  }

  function start(token) {
    state.token = token;
    state.generation += 1;
    $('token-form').hidden = true;
    $('token-error').hidden = true;
    $('dashboard').hidden = false;
    $('sign-out').hidden = false;
    $('last-refresh').textContent = 'Loading…';
    refresh();
  }

  // ---- API ---------------------------------------------------------------------------------

  async function request(path) {
    const headers = {};
    // /readyz shows its checks only with a token.
    if (path.startsWith('/api/') || path === '/readyz') headers.Authorization = 'Bearer ' + state.token;
    let response;
    try {
      response = await fetch(path, { headers, cache: 'no-store', credentials: 'omit', redirect: 'error' });
    } catch (e) {
      throw new ApiError(0, 'unreachable', 'the node does not answer (' + e.message + ')');
    }
    return response;
  }

  async function errorOf(response) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // not JSON: the status line says enough
    }
    const error = (body && body.error) || {};
    return new ApiError(response.status, error.code || 'http_' + response.status,
      error.message || 'HTTP ' + response.status + (response.statusText ? ' ' + response.statusText : ''));
  }

  async function getJson(path) {
    const response = await request(path);
    if (response.ok) return response.json();
    if (path === '/readyz' && response.status === 503) {
      try {
        return await response.json(); // not ready: the body says why
      } catch {
        // fall through to the error
      }
    }
    throw await errorOf(response);
  }

  // The SC preview as an object URL, fetched once per output (a result file never changes).
  function thumbnail(path) {
    let entry = state.thumbnails.get(path);
    if (entry) {
      state.thumbnails.delete(path); // most recently used goes last
      state.thumbnails.set(path, entry);
      return entry;
    }
    const promise = (async () => {
      const response = await request(path);
      if (!response.ok) throw await errorOf(response);
      return URL.createObjectURL(await response.blob());
    })();
    entry = { promise, img: null };
    state.thumbnails.set(path, entry);
    promise.catch(() => state.thumbnails.delete(path));
    while (state.thumbnails.size > THUMBNAIL_CACHE) {
      const [oldest, old] = state.thumbnails.entries().next().value;
      state.thumbnails.delete(oldest);
      old.promise.then((url) => URL.revokeObjectURL(url), () => {});
    }
    return entry;
  }

  // ---- formatting --------------------------------------------------------------------------

  const pad = (n) => String(n).padStart(2, '0');

  function localTime(iso, withDate) {
    if (!iso) return '—';
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return String(iso);
    const time = pad(d.getHours()) + ':' + pad(d.getMinutes()) + ':' + pad(d.getSeconds());
    const today = new Date();
    const sameDay = d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
    if (!withDate && sameDay) return time;
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + time;
  }

  function timeElement(iso, withDate) {
    if (!iso) return el('span', { class: 'muted' }, '—');
    return el('time', { datetime: iso, title: iso }, localTime(iso, withDate));
  }

  function shortUid(uid) {
    uid = String(uid || '');
    return uid.length <= 24 ? uid : uid.slice(0, 10) + '…' + uid.slice(-10);
  }

  function uidElement(uid) {
    return el('span', { class: 'uid', title: uid }, shortUid(uid));
  }

  function seconds(fromIso, toIso) {
    const ms = new Date(toIso).getTime() - new Date(fromIso).getTime();
    if (!Number.isFinite(ms)) return '';
    return ms < 60000 ? (ms / 1000).toFixed(1) + ' s' : (ms / 60000).toFixed(1) + ' min';
  }

  function bytes(n) {
    if (typeof n !== 'number') return '';
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(0) + ' KiB';
    return (n / 1024 / 1024).toFixed(1) + ' MiB';
  }

  function area(lung) {
    if (typeof lung.area_mm2 === 'number') {
      return lung.area_mm2 >= 100 ? (lung.area_mm2 / 100).toFixed(1) + ' cm²' : lung.area_mm2.toFixed(0) + ' mm²';
    }
    return typeof lung.pixels === 'number' ? lung.pixels + ' pixels' : '—';
  }

  const capitalised = (s) => (s ? s.charAt(0).toUpperCase() + s.slice(1) : s);

  // STAT and HIGH jobs carry a badge (workers claim them first); routine ones none.
  function priorityBadge(priority) {
    if (priority !== 'stat' && priority !== 'high') return null;
    return el('span', { class: 'badge priority-' + priority, title: 'analysed before routine studies' }, priority.toUpperCase());
  }

  function badge(value, kind) {
    return el('span', { class: 'badge ' + (kind || 'state') + '-' + String(value).replace(/[^a-z_-]/gi, '') }, String(value));
  }

  // ---- sections ----------------------------------------------------------------------------

  // Redraws a card's body from `data` unless it shows that very data already.
  function render(sectionId, data, build) {
    const key = JSON.stringify(data);
    if (state.rendered[sectionId] === key) return false;
    state.rendered[sectionId] = key;
    $(sectionId).querySelector('.card-body').replaceChildren(...[build(data)].flat().filter((n) => n !== null && n !== undefined));
    return true;
  }

  function renderHealth(ready) {
    render('health', ready, (r) => {
      const checks = Array.isArray(r.checks) ? r.checks : [];
      return [
        el('p', { class: 'readiness ' + (r.ready ? 'ready' : 'not-ready') },
          el('span', { class: 'dot', 'aria-hidden': 'true' }), r.ready ? 'Ready' : 'Not ready'),
        el('ul', { class: 'checks' }, checks.map((c) => {
          // A warning (the drift check) leaves the node ready but is shown as one.
          const kind = !c.ok ? 'fail' : c.warning ? 'warn' : 'ok';
          const mark = { ok: ['✓', 'OK'], warn: ['!', 'warning'], fail: ['✗', 'failing'] }[kind];
          return el('li', { class: 'check ' + kind },
            el('span', { class: 'check-mark', 'aria-label': mark[1], title: mark[1] }, mark[0]),
            el('span', { class: 'check-name' }, CHECK_NAMES[c.name] || String(c.name)),
            el('span', { class: 'check-detail', title: c.detail || '' }, c.detail || ''));
        })),
        checks.some((c) => c.ok && c.warning)
          ? el('p', { class: 'check-warning', role: 'status' },
            checks.filter((c) => c.ok && c.warning).map((c) => c.detail || c.name).join('; '))
          : null,
      ];
    });
  }

  function renderQueue(counts) {
    render('queue', counts, (c) => el('ul', { class: 'counters' }, ['queued', 'running', 'failed'].map((name) =>
      el('li', {},
        el('button', {
          type: 'button', class: 'counter counter-' + name + (c[name] > 0 ? ' nonzero' : ''), 'data-state': name,
          title: 'Show ' + name + ' jobs',
        }, el('span', { class: 'count' }, String(c[name])), el('span', { class: 'count-label' }, name))))));
  }

  function renderDestinations(data) {
    render('destinations', data, (d) => {
      const list = Array.isArray(d.destinations) ? d.destinations : [];
      if (!list.length) return el('p', { class: 'muted' }, 'No destinations configured.');
      return el('ul', { class: 'destination-list' }, list.map((dest) => {
        const last = dest.last_attempt;
        return el('li', { class: 'destination' },
          el('div', { class: 'destination-head' },
            el('span', { class: 'destination-name' }, String(dest.name)),
            badge(dest.state || 'unknown')),
          el('div', { class: 'destination-address muted' },
            String(dest.ae_title) + ' @ ' + String(dest.host) + ':' + String(dest.port) + (dest.tls ? ' · TLS' : '')),
          el('div', { class: 'destination-counts' },
            ['pending', 'sending', 'delivered', 'dead'].map((k) =>
              el('span', { class: 'dc dc-' + k + (dest[k] > 0 ? ' nonzero' : '') }, el('b', {}, String(dest[k] ?? 0)), ' ' + k))),
          last ? el('div', { class: 'destination-last muted', title: last.detail || '' },
            'Last: ', String(last.outcome || ''), ' ', timeElement(last.finished),
            last.outcome !== 'delivered' && last.detail ? ' — ' + String(last.detail) : '') : null);
      }));
    });
  }

  // Every node on the database (the whole cluster on PostgreSQL); "this node" marks the one answering.
  function renderNodes(data) {
    render('nodes', data, (d) => {
      const list = Array.isArray(d.nodes) ? d.nodes : [];
      if (!list.length) return el('p', { class: 'muted' }, 'No node has reported yet.');
      return el('table', { class: 'nodes-table' },
        el('thead', {}, el('tr', {}, ['Node', 'Address', 'Version', 'State', 'Last heartbeat', 'Jobs', 'Sending'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, list.map((n) => el('tr', { class: 'node' + (n.self ? ' self' : ''), 'data-node': String(n.id) },
          el('td', { class: 'node-id' }, String(n.id), n.self ? el('span', { class: 'muted' }, ' (this node)') : null),
          el('td', {}, String(n.address)),
          el('td', {}, String(n.version)),
          el('td', {}, badge(n.alive ? 'alive' : 'silent')),
          el('td', { title: String(n.last_heartbeat) }, Math.round(Number(n.seconds_since_heartbeat)) + ' s ago'),
          el('td', { class: 'node-jobs' }, String((n.running_jobs || []).length)),
          el('td', { class: 'node-sending' }, String(n.sending_deliveries ?? 0))))));
    });
  }

  // Studies pulled from the sources: the sweeps, then the latest retrievals, with their progress.
  function renderRetrievals(sweeps, retrievals) {
    render('retrievals', { sweeps, retrievals }, (d) => {
      const s = Array.isArray(d.sweeps?.sweeps) ? d.sweeps.sweeps : [];
      const r = Array.isArray(d.retrievals?.retrievals) ? d.retrievals.retrievals : [];
      if (!s.length && !r.length) return el('p', { class: 'muted' }, 'No study retrieved from a source yet.');
      const parts = [];
      if (s.length) parts.push(el('table', { class: 'sweeps-table' },
        el('thead', {}, el('tr', {}, ['Sweep', 'Source', 'State', 'Found', 'Analysed already', 'Queued', 'Done', 'Failed'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, s.map((w) => el('tr', { class: 'sweep', 'data-sweep': String(w.id) },
          el('td', {}, '#' + String(w.id)), el('td', {}, String(w.source)), el('td', {}, badge(String(w.state))),
          el('td', {}, String(w.found)), el('td', {}, String(w.already_analysed)), el('td', {}, String(w.queued)),
          el('td', {}, String(w.retrievals?.done ?? 0)), el('td', {}, String(w.retrievals?.failed ?? 0)))))));
      if (r.length) parts.push(el('table', { class: 'retrievals-table' },
        el('thead', {}, el('tr', {}, ['Retrieval', 'Source', 'Study', 'State', 'Instances', 'Detail'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, r.map((x) => el('tr', { class: 'retrieval', 'data-retrieval': String(x.id) },
          el('td', {}, '#' + String(x.id) + (x.sweep_id ? ' (sweep #' + String(x.sweep_id) + ')' : '')),
          el('td', {}, String(x.source) + ' · ' + String(x.method)), el('td', {}, uidElement(String(x.study_instance_uid))),
          el('td', {}, badge(String(x.state))), el('td', {}, String(x.instances?.retrieved ?? 0)),
          el('td', { class: 'muted' }, String(x.detail || '')))))));
      return parts;
    });
  }

  function deliveredCount(job) {
    const o = job.outputs || {};
    return String(o.delivered ?? 0) + '/' + String(o.total ?? 0);
  }

  function renderJobs(data) {
    const jobs = Array.isArray(data.jobs) ? data.jobs : [];
    state.jobIds = jobs.map((j) => j.id);
    const key = JSON.stringify([state.filter, data]);
    if (state.rendered.jobs !== key) {
      state.rendered.jobs = key;
      const rows = jobs.map((job) => {
        const row = el('tr', { class: 'job', 'data-job-id': job.id },
          el('td', {}, el('button', { type: 'button', class: 'row-button', 'aria-label': 'Show job ' + job.id }, '#' + job.id)),
          el('td', {}, uidElement(job.study_instance_uid)),
          el('td', {}, badge(job.state), priorityBadge(job.priority) ? ' ' : null, priorityBadge(job.priority)),
          el('td', {}, timeElement(job.times && job.times.received)),
          el('td', { class: 'num' + ((job.outputs && job.outputs.dead) ? ' has-dead' : '') }, deliveredCount(job)));
        return row;
      });
      if (!rows.length) {
        rows.push(el('tr', { class: 'empty' }, el('td', { colspan: 5, class: 'muted' },
          state.filter ? 'No ' + state.filter + ' jobs.' : 'No studies received yet.')));
      }
      document.querySelector('#jobs tbody').replaceChildren(...rows);
      const total = typeof data.total === 'number' ? data.total : jobs.length;
      document.querySelector('#jobs .jobs-footer').textContent =
        total > jobs.length ? 'The newest ' + jobs.length + ' of ' + total + ' jobs.' : total + (total === 1 ? ' job.' : ' jobs.');
    }
    markSelected();
  }

  function markSelected() {
    for (const row of document.querySelectorAll('#jobs tr.job')) {
      const selected = Number(row.dataset.jobId) === state.shownId;
      // Marked by attributes: a row's class stays "job".
      const button = row.querySelector('.row-button');
      if (selected) {
        row.setAttribute('data-selected', '');
        button.setAttribute('aria-current', 'true');
      } else {
        row.removeAttribute('data-selected');
        button.removeAttribute('aria-current');
      }
    }
  }

  // ---- job detail --------------------------------------------------------------------------

  function findingsList(image) {
    const findings = (Array.isArray(image.findings) ? image.findings.slice() : [])
      .filter((f) => typeof f.probability === 'number')
      .sort((a, b) => b.probability - a.probability)
      .slice(0, TOP_FINDINGS);
    if (!findings.length) return el('p', { class: 'muted' }, 'No findings.');
    return el('ol', { class: 'findings', 'aria-label': 'Top findings by probability' }, findings.map((f) =>
      el('li', { class: 'finding' },
        el('span', { class: 'finding-label' }, String(f.label)),
        el('span', { class: 'bar', 'aria-hidden': 'true' }, barFill(f.probability)),
        el('span', { class: 'finding-probability' }, f.probability.toFixed(2)))));
  }

  function barFill(probability) {
    const fill = el('span', { class: 'bar-fill' });
    fill.style.width = Math.max(0, Math.min(1, probability)) * 100 + '%';
    return fill;
  }

  function lungsBlock(segmentation) {
    if (!segmentation) return null;
    if (segmentation.rejected) {
      return el('p', { class: 'lungs rejected' }, el('b', {}, 'Lung mask rejected: '), String(segmentation.rejected));
    }
    const lungs = Array.isArray(segmentation.lungs) ? segmentation.lungs : [];
    if (!lungs.length) return el('p', { class: 'lungs muted' }, 'No lungs found.');
    return el('div', { class: 'lungs' },
      el('ul', { class: 'lung-list' }, lungs.map((lung) =>
        el('li', { class: 'lung', title: lung.spacing_source ? 'Pixel spacing from ' + lung.spacing_source : '' },
          el('span', { class: 'lung-side' }, capitalised(String(lung.laterality)) + ' lung'),
          el('span', { class: 'lung-area' }, area(lung))))),
      segmentation.side_basis ? el('p', { class: 'side-basis muted' }, 'Sides ' + String(segmentation.side_basis)) : null);
  }

  function imageBlock(image, index) {
    const analysed = image.decision === 'analysed';
    return el('article', { class: 'image' },
      el('h4', {}, 'Image ' + (index + 1) + ' ', uidElement(image.sop_instance_uid), ' ', badge(image.decision || 'unknown', 'decision'),
        image.model ? el('span', { class: 'model muted' }, String(image.model)) : null),
      !analysed && (image.reason_code || image.detail)
        ? el('p', { class: 'image-reason' }, [image.reason_code, image.detail].filter(Boolean).map(String).join(': '))
        : null,
      analysed ? findingsList(image) : null,
      lungsBlock(image.segmentation));
  }

  function thumbnailElement(output, jobId) {
    const entry = thumbnail(output.preview);
    if (!entry.img) {
      entry.img = el('img', {
        class: 'sc-thumbnail',
        alt: 'Secondary Capture of job ' + jobId + ' (output ' + output.id + '): heatmap and lung contours as sent to the PACS',
      });
      const img = entry.img;
      entry.promise.then((url) => {
        img.src = url;
      }, (e) => {
        img.replaceWith(el('p', { class: 'muted thumbnail-error' }, 'Preview unavailable: ' + e.message));
      });
    }
    return el('figure', { class: 'thumbnail' }, entry.img, el('figcaption', { class: 'muted' }, 'Secondary Capture · ' + bytes(output.size_bytes)));
  }

  function outputsTable(outputs) {
    if (!outputs.length) return el('p', { class: 'muted' }, 'No results made.');
    return el('table', { class: 'outputs' },
      el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Result'), el('th', { scope: 'col' }, 'Destination'),
        el('th', { scope: 'col' }, 'Delivery'), el('th', { scope: 'col' }, 'Attempts'), el('th', { scope: 'col' }, 'Last status'))),
      el('tbody', {}, outputs.flatMap((output) => {
        const deliveries = Array.isArray(output.deliveries) && output.deliveries.length ? output.deliveries : [null];
        return deliveries.map((d, i) => el('tr', { class: 'output', 'data-output-id': output.id },
          i === 0 ? el('td', { rowspan: deliveries.length, title: String(output.sop_instance_uid || '') },
            el('span', { class: 'kind' }, String(output.kind || '').toUpperCase()), ' ',
            el('span', { class: 'muted' }, OUTPUT_KINDS[output.kind] || ''),
            output.file_present === false ? el('span', { class: 'file-gone' }, ' (file gone)') : null) : null,
          d ? [
            el('td', {}, String(d.destination)),
            el('td', {}, badge(d.state || 'unknown')),
            el('td', { class: 'num' }, String(d.attempts ?? '')),
            el('td', { class: 'last-status' },
              String(d.last_status || ''),
              d.state === 'pending' && d.next_attempt_at ? [' · next try ', timeElement(d.next_attempt_at)] : null,
              d.state === 'delivered' && d.finished ? [' · ', timeElement(d.finished)] : null,
              d.substitution ? el('div', { class: 'substitution' }, 'Substituted: ' + String(d.substitution)) : null),
          ] : el('td', { colspan: 4, class: 'muted' }, 'No destinations.')));
      })));
  }

  const STEPS = ['received', 'complete', 'queued', 'started', 'inferred', 'reported', 'delivered', 'finished'];

  function timeline(times) {
    const received = times.received;
    return el('ol', { class: 'timeline' }, STEPS.filter((s) => times[s]).map((s) =>
      el('li', {}, el('span', { class: 'step' }, s), ' ',
        s === 'received' || !received ? timeElement(times[s], true)
          : el('time', { datetime: times[s], title: localTime(times[s], true) + ' (' + times[s] + ')' }, '+' + seconds(received, times[s])))));
  }

  function detailContent(job) {
    const images = Array.isArray(job.images) ? job.images : [];
    const outputs = Array.isArray(job.outputs) ? job.outputs : [];
    const demo = images.some((i) => i.demo === true);
    const previews = outputs.filter((o) => o.preview);
    const failed = job.state === 'failed';
    return [
      el('div', { class: 'detail-head' },
        el('h3', {}, 'Job #' + job.id), badge(job.state), priorityBadge(job.priority),
        el('span', { class: 'muted' }, job.attempts === 1 ? '1 attempt' : String(job.attempts ?? 0) + ' attempts'),
        demo ? el('span', { class: 'demo-badge', role: 'note' }, 'DEMO MODEL - UNTRAINED WEIGHTS') : null),
      el('p', { class: 'study' }, 'Study ', el('span', { class: 'uid full' }, String(job.study_instance_uid)),
        job.supersedes_job ? el('span', { class: 'muted' }, ' · replaces job #' + job.supersedes_job) : null),
      (job.reason || job.last_error)
        ? el('div', { class: 'job-problem' + (failed ? ' failed' : '') },
          job.reason ? el('p', {}, el('b', {}, failed ? 'Failed: ' : 'Reason: '), String(job.reason)) : null,
          job.last_error ? el('p', {}, el('b', {}, 'Last error: '), String(job.last_error)) : null)
        : null,
      timeline(job.times || {}),
      el('div', { class: 'detail-images' + (previews.length ? ' with-thumbnails' : '') },
        previews.length ? el('div', { class: 'thumbnails' }, previews.map((o) => thumbnailElement(o, job.id))) : null,
        el('div', { class: 'image-list' }, images.length ? images.map(imageBlock) : el('p', { class: 'muted' }, 'No images.'))),
      el('h4', { class: 'outputs-title' }, 'Results and their delivery'),
      outputsTable(outputs),
    ];
  }

  function renderDetail(job) {
    state.shownId = job.id;
    const body = $('job-detail').querySelector('.card-body');
    const scroll = body.scrollTop;
    render('job-detail', job, detailContent);
    body.scrollTop = scroll;
    markSelected();
  }

  function renderDetailMessage(message) {
    state.rendered['job-detail'] = null;
    $('job-detail').querySelector('.card-body').replaceChildren(el('p', { class: 'muted' }, message));
  }

  async function loadDetail(generation) {
    const id = state.selectedId ?? state.jobIds[0] ?? null;
    const requestNumber = ++state.detailRequest;
    if (id === null) {
      state.shownId = null;
      renderDetailMessage(state.filter ? 'No job to show.' : 'No studies received yet.');
      return;
    }
    let job;
    try {
      job = await getJson('/api/v1/jobs/' + encodeURIComponent(id));
    } catch (e) {
      if (generation !== state.generation || requestNumber !== state.detailRequest) return;
      if (e.status === 404) {
        state.selectedId = null;
        renderDetailMessage('Job #' + id + ' no longer exists.');
        return;
      }
      throw e;
    }
    if (generation !== state.generation || requestNumber !== state.detailRequest) return;
    renderDetail(job);
  }

  // ---- refresh -----------------------------------------------------------------------------

  function showError(e) {
    const banner = $('error');
    if (!e) {
      banner.hidden = true;
      banner.textContent = '';
      return;
    }
    banner.textContent = (e.status === 403 ? 'Not allowed: ' : 'Could not refresh: ') + e.message;
    banner.hidden = false;
  }

  async function refresh() {
    clearTimeout(state.timer);
    const generation = state.generation;
    const count = (name) => getJson('/api/v1/jobs?state=' + name + '&limit=1').then((r) => r.total);
    const list = '/api/v1/jobs?limit=' + JOB_LIMIT + '&offset=0' + (state.filter ? '&state=' + encodeURIComponent(state.filter) : '');
    const results = await Promise.allSettled([
      getJson('/readyz'), count('queued'), count('running'), count('failed'), getJson('/api/v1/destinations'), getJson(list),
      getJson('/api/v1/nodes'), getJson('/api/v1/sweeps?limit=5'), getJson('/api/v1/retrievals?limit=10'),
    ]);
    if (generation !== state.generation) return;
    let failure = results.find((r) => r.status === 'rejected')?.reason || null;
    if (failure && failure.status === 401) {
      signOut(failure.message);
      return;
    }
    const [ready, queued, running, failed, destinations, jobs, nodes, sweeps, retrievals] = results.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
    try {
      if (ready) renderHealth(ready);
      if (queued !== undefined && running !== undefined && failed !== undefined) renderQueue({ queued, running, failed });
      if (destinations) renderDestinations(destinations);
      if (nodes) renderNodes(nodes);
      if (sweeps && retrievals) renderRetrievals(sweeps, retrievals);
      if (jobs) renderJobs(jobs);
      if (jobs || state.selectedId !== null) await loadDetail(generation);
    } catch (e) {
      // An answer the page could not show, or the job's details failing: the next refresh tries again.
      if (generation !== state.generation) return;
      if (e.status === 401) {
        signOut(e.message);
        return;
      }
      failure = failure || e;
    }
    if (generation !== state.generation) return;
    const now = localTime(new Date().toISOString());
    $('last-refresh').textContent = failure ? 'Refresh failed at ' + now : 'Updated ' + now + ' · every 5 s';
    $('last-refresh').classList.toggle('stale', Boolean(failure));
    showError(failure);
    state.timer = setTimeout(refresh, REFRESH_MS);
  }

  // ---- events ------------------------------------------------------------------------------

  function selectJob(id) {
    state.selectedId = id;
    state.shownId = id;
    markSelected();
    const generation = state.generation;
    loadDetail(generation).catch((e) => {
      if (generation !== state.generation) return;
      if (e.status === 401) signOut(e.message);
      else showError(e);
    });
  }

  function setFilter(value) {
    $('state-filter').value = value;
    state.filter = value;
    state.selectedId = null; // the newest job of the new list
    refresh();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('token-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const input = $('token-input');
      const token = input.value.trim();
      input.value = '';
      if (!token) return;
      storage()?.setItem(TOKEN_KEY, token);
      start(token);
    });
    $('sign-out').addEventListener('click', () => signOut(''));
    $('state-filter').addEventListener('change', (event) => setFilter(event.target.value));
    $('queue').addEventListener('click', (event) => {
      const counter = event.target.closest('button[data-state]');
      if (counter) setFilter(counter.dataset.state);
    });
    document.querySelector('#jobs tbody').addEventListener('click', (event) => {
      const row = event.target.closest('tr.job');
      if (row) selectJob(Number(row.dataset.jobId));
    });

    const token = initialToken();
    if (token) start(token);
    else showTokenForm('');
  });
})();
