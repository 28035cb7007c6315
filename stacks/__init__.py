"""The CDK app: one stack built from one construct per concern. Reads statemachine/, packages lambdas/ as an asset."""
