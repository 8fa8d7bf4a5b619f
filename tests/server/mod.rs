mod durability;
mod harness;
mod protocol;
mod query;
mod writes;
