FROM alpine
SHELL ["sh", ["-c"]]
