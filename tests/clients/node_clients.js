// The Node.js client libraries, unchanged but for URL and token, against a
// live hydrant: node-influx (v1 API) and @influxdata/influxdb-client (v2 API).
//
//   NODE_PATH=<dir with node_modules> node node_clients.js HOST PORT TOKEN
//
// Every check reads back what it wrote and compares values and types.
'use strict';
const assert = require('assert/strict');
const Influx = require('influx');
const { InfluxDB: V2, Point, HttpError } = require('@influxdata/influxdb-client');

const [host, portText, token] = process.argv.slice(2);
const port = Number(portText);
const BASE = 1700000040; // seconds, a whole minute (GROUP BY time(60s) windows start on it)

// A raw v1 /query (RFC3339 times: nanoseconds do not survive a JS number),
// for reading back what the v2 client wrote.
async function query(db, q) {
  const url = `http://${host}:${port}/query?db=${db}&q=${encodeURIComponent(q)}`;
  const r = await fetch(url, { headers: { Authorization: `Token ${token}` } });
  const text = await r.text();
  assert.equal(r.status, 200, text);
  const body = JSON.parse(text);
  const series = body.results[0].series || [];
  return series.flatMap((s) => s.values.map((v) => Object.fromEntries(s.columns.map((c, i) => [c, v[i]]))));
}

async function nodeInflux() {
  const schema = [{
    measurement: 'cpu',
    fields: {
      usage: Influx.FieldType.FLOAT,
      count: Influx.FieldType.INTEGER,
      state: Influx.FieldType.STRING,
      ok: Influx.FieldType.BOOLEAN,
    },
    tags: ['host', 'region'],
  }];
  const client = new Influx.InfluxDB({ host, port, database: 'nodev1', username: 'ignored', password: token, schema });
  const pings = await client.ping(5000);
  assert.ok(pings.length > 0 && pings.every((p) => p.online), 'ping: server offline');
  await client.createDatabase('nodev1');
  assert.ok((await client.getDatabaseNames()).includes('nodev1'));

  const points = [];
  for (let i = 0; i < 12; i++) {
    points.push({
      measurement: 'cpu',
      tags: { host: `h${i % 3}`, region: i < 6 ? 'eu' : 'us' },
      fields: { usage: i * 2.5, count: i, state: `s${i}`, ok: i % 2 === 0 },
      timestamp: BASE + i * 10,
    });
  }
  await client.writePoints(points, { precision: 's' });

  const rows = await client.query('SELECT * FROM cpu ORDER BY time');
  assert.equal(rows.length, 12);
  rows.forEach((row, i) => {
    assert.equal(row.time.getNanoTime(), String((BASE + i * 10) * 1e9));
    assert.equal(row.usage, i * 2.5);
    assert.equal(row.count, i);
    assert.equal(row.state, `s${i}`);
    assert.equal(row.ok, i % 2 === 0);
    assert.equal(row.host, `h${i % 3}`);
  });

  // GROUP BY a tag and time: one group per host, rows per 60 s window.
  const grouped = await client.query(
    `SELECT mean(usage) AS m, count(count) AS n FROM cpu WHERE time >= ${BASE}s AND time < ${BASE + 120}s GROUP BY time(60s), host`);
  const byHost = {};
  for (const g of grouped.groups()) {
    byHost[g.tags.host] = g.rows.map((r) => [r.time.getNanoTime(), r.m, r.n]);
  }
  const expected = {};
  for (const h of [0, 1, 2]) {
    expected[`h${h}`] = [0, 1].map((w) => {
      const is = [...Array(12).keys()].filter((i) => i % 3 === h && Math.floor(i / 6) === w);
      const mean = is.reduce((a, i) => a + i * 2.5, 0) / is.length;
      return [String((BASE + w * 60) * 1e9), mean, is.length];
    });
  }
  assert.deepEqual(byHost, expected);

  const measurements = await client.getMeasurements();
  assert.deepEqual(measurements, ['cpu']);

  // A wrong password is refused clearly.
  const wrong = new Influx.InfluxDB({ host, port, database: 'nodev1', username: 'x', password: 'wrong' });
  await assert.rejects(wrong.writePoints([{ measurement: 'm', fields: { v: 1 } }]),
    (e) => e.res && e.res.statusCode === 401 && /authorization failed/.test(e.message));
}

async function influxdbClientJs() {
  const url = `http://${host}:${port}`;
  const precisions = { ns: 1n, us: 1000n, ms: 1000000n, s: 1000000000n };
  for (const gzip of [false, true]) {
    const client = new V2({ url, token });
    for (const [precision, ns] of Object.entries(precisions)) {
      const name = `js_${precision}_${gzip ? 'gz' : 'plain'}`;
      const write = client.getWriteApi('any-org', 'nodev2', precision, {
        // The client gzips bodies longer than the threshold; undefined: never.
        gzipThreshold: gzip ? 0 : undefined,
        maxRetries: 0,
        batchSize: 4,
      });
      const unitBase = BigInt(BASE) * 1000000000n / ns;
      for (let i = 0; i < 10; i++) {
        write.writePoint(new Point(name).tag('host', `h${i}`).floatField('f', i / 8)
          .intField('i', i).uintField('u', i * 7).stringField('s', `v "${i}"`).booleanField('b', i > 4)
          .timestamp(String(unitBase + BigInt(i))));
      }
      await write.close();
      const rows = await query('nodev2', `SELECT * FROM "${name}" ORDER BY time`);
      assert.equal(rows.length, 10, name);
      rows.forEach((row, i) => {
        assert.equal(row.time, rfc3339((unitBase + BigInt(i)) * ns), name);
        assert.deepEqual([row.f, row.i, row.u, row.s, row.b, row.host],
          [i / 8, i, i * 7, `v "${i}"`, i > 4, `h${i}`], name);
      });
    }
  }
  // A bad token gets the error that client parses: 401, code "unauthorized".
  const bad = new V2({ url, token: 'wrong' }).getWriteApi('o', 'nodev2', 'ns', { maxRetries: 0 });
  bad.writeRecord('m v=1');
  await assert.rejects(bad.close(), (e) => e instanceof HttpError && e.statusCode === 401
    && e.code === 'unauthorized' && e.message === 'unauthorized access');
}

// InfluxDB's RFC3339 with nanoseconds, trailing zeros dropped.
function rfc3339(ns) {
  const seconds = ns / 1000000000n;
  const frac = (ns % 1000000000n).toString().padStart(9, '0').replace(/0+$/, '');
  const whole = new Date(Number(seconds) * 1000).toISOString().replace(/\.000Z$/, '');
  return `${whole}${frac ? `.${frac}` : ''}Z`;
}

(async () => {
  await nodeInflux();
  await influxdbClientJs();
  console.log('ok');
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
