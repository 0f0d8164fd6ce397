"""The stream processor: a Faust app that validates, classifies and seals raw events."""
