FROM alpine
RUN apk add --no-cache curl
RUN ["echo", "hello world"]
