# escape=`
FROM alpine
ENV P=C:\Windows A=b` c
