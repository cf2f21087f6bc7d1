"""The cpnet command line and the local development stack."""
