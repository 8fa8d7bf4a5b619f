mod harness;
mod protocol;
mod writes;
