FROM alpine
RUN --from=builder echo hi
