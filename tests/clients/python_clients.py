"""The Python client libraries, unchanged but for URL and token, against a
live hydrant: influxdb-python (v1 API) and influxdb-client (v2 API).

    python python_clients.py HOST PORT TOKEN

Every check reads back what it wrote and compares values and types; any
mismatch raises, and the exit status says so.
"""
import sys

from influxdb import InfluxDBClient
from influxdb.exceptions import InfluxDBClientError

HOST, PORT, TOKEN = sys.argv[1], int(sys.argv[2]), sys.argv[3]
BASE = 1_700_000_000  # seconds


def expect(what, got, want):
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def v1_client(password=TOKEN, database="pyv1"):
    return InfluxDBClient(host=HOST, port=PORT, username="ignored", password=password,
                          database=database)


def influxdb_python():
    client = v1_client()
    version = client.ping()
    if not version:
        raise AssertionError("ping returned no version")
    client.create_database("pyv1")  # must not fail (Telegraf and scripts do it at start)
    client.create_database("pyv1")  # nor the second time
    if {"name": "pyv1"} not in client.get_list_database():
        raise AssertionError(f"pyv1 missing from {client.get_list_database()}")

    # write_points in each time_precision: integer times in that unit.
    multipliers = {"n": 1, "u": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9,
                   "h": 3600 * 10**9}
    for precision, ns in multipliers.items():
        unit_base = BASE * 10**9 // ns
        points = [{
            "measurement": f"prec_{precision}",
            "tags": {"host": f"h{i % 3}"},
            "time": unit_base + i,
            "fields": {"f": i * 1.5, "i": i, "s": f"str {i}", "b": i % 2 == 0},
        } for i in range(10)]
        if not client.write_points(points, time_precision=precision, batch_size=4):
            raise AssertionError(f"write_points({precision}) returned false")
        got = list(client.query(f'SELECT * FROM "prec_{precision}" ORDER BY time',
                                epoch="ns").get_points())
        expect(f"rows for precision {precision}", len(got), 10)
        for i, row in enumerate(got):
            expect(f"time ({precision})", row["time"], (unit_base + i) * ns)
            expect(f"f ({precision})", (row["f"], type(row["f"])), (i * 1.5, float))
            expect(f"i ({precision})", (row["i"], type(row["i"])), (i, int))
            expect(f"s ({precision})", row["s"], f"str {i}")
            expect(f"b ({precision})", (row["b"], type(row["b"])), (i % 2 == 0, bool))
            expect(f"host ({precision})", row["host"], f"h{i % 3}")

    # write with the line protocol directly.
    lines = [f"line,src=raw v={i}i,x=\"q\" {BASE + i}" for i in range(5)]
    if not client.write(lines, params={"db": "pyv1", "precision": "s"}, protocol="line"):
        raise AssertionError("write(protocol='line') returned false")
    rows = list(client.query("SELECT v, x FROM line", epoch="s").get_points())
    expect("line rows", [(r["time"], r["v"], r["x"]) for r in rows],
           [(BASE + i, i, "q") for i in range(5)])

    # query's default asks for msgpack; the same answer as JSON, times as RFC3339.
    rs = client.query("SELECT count(f), mean(f), max(i) FROM prec_s")
    expect("aggregate", list(rs.get_points()),
           [{"time": "1970-01-01T00:00:00Z", "count": 10, "mean": 6.75, "max": 9}])
    rs = client.query("SELECT mean(f) FROM prec_s GROUP BY host", epoch="s")
    by_host = {tags["host"]: list(points)[0]["mean"]
               for (_, tags), points in ((k, rs.get_points(tags=k[1])) for k in rs.keys())}
    expect("group by host", by_host, {"h0": 6.75, "h1": 6.0, "h2": 7.5})

    measurements = {m["name"] for m in client.get_list_measurements()}
    want = {f"prec_{p}" for p in multipliers} | {"line"}
    if not want <= measurements:
        raise AssertionError(f"measurements {measurements} lack {want - measurements}")

    # A wrong password is refused, clearly.
    try:
        v1_client(password="wrong").write_points(
            [{"measurement": "m", "fields": {"v": 1}}])
        raise AssertionError("a wrong password was accepted")
    except InfluxDBClientError as e:
        expect("wrong password status", e.code, 401)
        if "authorization failed" not in str(e.content):
            raise AssertionError(f"unclear 401: {e.content!r}")
    try:
        v1_client(password="wrong").query("SHOW DATABASES")
        raise AssertionError("a wrong password could query")
    except InfluxDBClientError as e:
        expect("wrong password query status", e.code, 401)


def influxdb_client_v2():
    from influxdb_client import InfluxDBClient as V2Client, Point, WritePrecision
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.rest import ApiException

    reader = v1_client(database="pyv2")
    url = f"http://{HOST}:{PORT}"
    precisions = {WritePrecision.NS: 1, WritePrecision.US: 1_000, WritePrecision.MS: 1_000_000,
                  WritePrecision.S: 10**9}
    for gzip in (False, True):
        with V2Client(url=url, token=TOKEN, org="any", enable_gzip=gzip) as client:
            write = client.write_api(write_options=SYNCHRONOUS)
            for precision, ns in precisions.items():
                name = f"v2_{precision}_{'gz' if gzip else 'plain'}"
                unit_base = BASE * 10**9 // ns
                points = [Point(name).tag("host", f"h{i}").field("f", i / 4).field("i", i)
                          .field("s", f"v{i}").field("b", i % 2 == 1)
                          .time(unit_base + i, precision) for i in range(6)]
                write.write(bucket="pyv2", record=points, write_precision=precision)
                # Line protocol strings through the same API.
                write.write(bucket="pyv2", record=f"{name},host=lp f=99.5 {unit_base + 100}",
                            write_precision=precision)
                rows = list(reader.query(f'SELECT * FROM "{name}" ORDER BY time',
                                         epoch="ns").get_points())
                expect(f"{name} rows", len(rows), 7)
                for i, row in enumerate(rows[:6]):
                    expect(f"{name} time", row["time"], (unit_base + i) * ns)
                    expect(f"{name} f", (row["f"], type(row["f"])), (i / 4, float))
                    expect(f"{name} i", (row["i"], type(row["i"])), (i, int))
                    expect(f"{name} s", row["s"], f"v{i}")
                    expect(f"{name} b", row["b"], i % 2 == 1)
                expect(f"{name} lp row", (rows[6]["host"], rows[6]["f"]), ("lp", 99.5))

    # A bad token gets the v2 error those clients parse: 401, code "unauthorized".
    with V2Client(url=url, token="wrong", org="any") as client:
        try:
            client.write_api(write_options=SYNCHRONOUS).write(bucket="pyv2", record="m v=1")
            raise AssertionError("a bad token was accepted")
        except ApiException as e:
            expect("bad token status", e.status, 401)
            import json
            body = json.loads(e.body)
            expect("bad token body", (body["code"], body["message"]),
                   ("unauthorized", "unauthorized access"))


influxdb_python()
influxdb_client_v2()
print("ok")
