//! v1 `/query`: InfluxQL parsed and planned on the receiving core, data
//! gathered from every core's shard, answered in InfluxDB 1.x's shapes.

pub mod influxql;
