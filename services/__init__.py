"""The cpnet services, one package each; they share only shared/ and the event contracts."""
