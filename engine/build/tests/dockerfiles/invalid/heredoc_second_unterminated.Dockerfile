FROM alpine
RUN <<EOF
EOF
RUN cat <<EOF
