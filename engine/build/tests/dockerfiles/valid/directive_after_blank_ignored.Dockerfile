
# syntax=x
FROM alpine
