FROM alpine
COPY a
