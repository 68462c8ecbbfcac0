FROM alpine
RUN --platform=linux/amd64 true
