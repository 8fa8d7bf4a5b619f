mod clients;
mod durability;
mod harness;
mod operations;
mod persistence;
mod protocol;
mod query;
mod writes;
