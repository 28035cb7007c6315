"""One module per Lambda function; each is a doorway into lambdas.core."""
