FROM alpine
COPY --link=maybe a b
