FROM alpine
ENTRYPOINT ["sh", 1]
