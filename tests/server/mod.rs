mod durability;
mod harness;
mod persistence;
mod protocol;
mod query;
mod writes;
