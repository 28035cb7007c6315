"""The local runtime: moto's Step Functions interpreter running our ASL, in-process Lambdas, the DRS emulator."""
