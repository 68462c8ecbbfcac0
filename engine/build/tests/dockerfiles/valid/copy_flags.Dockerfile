FROM alpine
COPY --from=builder --chown=1000:1000 --chmod=0755 --link /out/app /usr/bin/app
COPY --parents --exclude=*.md --exclude=tmp ./docs /dst/
