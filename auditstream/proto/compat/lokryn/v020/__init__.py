"""Generated protobuf modules. Do not edit; run `make proto`."""
