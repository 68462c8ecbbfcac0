FROM alpine
RUN <<EOF
apk add curl
echo done
EOF
RUN echo after
